#![allow(dead_code)]

pub mod daemon;
pub mod moto;
pub mod rancher_sim;
pub mod tls_front;
