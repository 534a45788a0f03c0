//! The `.sfs` archive: safe validation and metadata extraction on upload, reading messages back,
//! and the content-addressed store on disk. Nothing here knows about HTTP or the database.

mod error;
pub mod fixture;
pub mod gc;
pub mod inspect;
pub mod line;
pub mod message_index;
pub mod messages;
pub mod metadata;
pub mod store;

pub use error::{ArchiveError, Invalid};
pub use inspect::{inspect, inspect_indexing, Limits};
pub use metadata::Extracted;
pub use store::{BlobPin, BlobStore};
