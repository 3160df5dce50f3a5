//! Workflows served to agents and platforms: [`mcp_tools`], one MCP tool per
//! workflow over stdio or streamable HTTP. (A REST server will sit beside it.)

pub mod mcp_tools;
