//! Adapters for the ports in `ports`.

pub mod console;
pub mod dynamodb;
pub mod memory;
pub mod slack_http;
pub mod token;
