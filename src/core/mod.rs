//! The pure core: package math, forecast and threshold rules. Functions of
//! (snapshot, history, thresholds, now) with no I/O and no clock reads.

pub mod alerts;
pub mod assess;
pub mod forecast;
pub mod pool;
pub mod rules;

#[cfg(test)]
pub(crate) mod testing;
