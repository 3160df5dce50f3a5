//! The benchmark stand-in as a program, for `scripts/bench.sh`:
//! `standin [ADDR]` (default `127.0.0.1:0`) prints the address it listens on,
//! then serves until it is killed. It builds with plain `rustc`, no Cargo needed.

#[path = "standin.rs"]
mod standin;

use std::io::Write;
use std::net::TcpListener;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("standin: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let local = listener
        .local_addr()
        .expect("a bound listener has an address");
    println!("{local}");
    let _ = std::io::stdout().flush();
    standin::serve(listener);
}
