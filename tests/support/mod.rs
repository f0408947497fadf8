#![allow(dead_code)]

pub mod rancher_sim;
