//! (filled in by the ws_server work)
