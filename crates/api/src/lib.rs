//! The Kubernetes object model skiff serves: the resource table (kinds, plurals, scopes,
//! verbs, short names), label and field selectors, validation, server-side printing
//! columns, version conversion and `metav1.Status` errors. Pure data and functions: no I/O.

pub mod admission;
pub mod clock;
pub mod cni;
pub mod convert;
pub mod crd;
pub mod crd_builder;
pub mod defaults;
pub mod digest;
pub mod kubelet;
pub mod managed_fields;
pub mod printers;
pub mod resources;
pub mod schema;
pub mod selector;
pub mod status;
pub mod strategic_merge;
pub mod validation;

pub use resources::ResourceInfo;
pub use status::{ApiError, GroupResource};
