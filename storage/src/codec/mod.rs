//! Encodings shared by the block writer and reader.

pub mod attr_columns;
pub mod buf;
pub mod chunk;
pub mod value;
