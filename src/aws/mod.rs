//! The AWS vocabulary both front ends speak: what an ECR token is and how
//! it is decoded ([`token`]), how an AWS failure is classified and worded
//! ([`failure`]), the HTTP client every SDK call goes through ([`http`]),
//! and who asks: identity, role and region settings ([`identity`]).
//!
//! The daemon's token source (`daemon::token_source`) and the kubelet
//! mode's token fetch (`kubelet::aws`) are built on these; neither knows
//! the other.

pub mod failure;
pub mod http;
pub mod identity;
pub mod token;

pub use failure::{AwsFailure, EcrError};
pub use identity::{AwsSettings, RoleSettings};
pub use token::EcrToken;
