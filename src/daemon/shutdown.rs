//! Shutdown on SIGTERM or SIGINT, watched from the first moment: as PID 1
//! in a container, a process without handlers ignores them. One type, so
//! every mode stops the same way.

use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::warn;

/// SIGTERM and SIGINT, registered when installed.
pub struct Shutdown {
    terminate: Option<Signal>,
    interrupt: Option<Signal>,
}

impl Shutdown {
    pub fn install() -> Shutdown {
        let watch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(err) => {
                warn!("cannot watch {name}: {err}");
                None
            }
        };
        Shutdown {
            terminate: watch(SignalKind::terminate(), "SIGTERM"),
            interrupt: watch(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// Resolves at the first SIGTERM or SIGINT.
    pub async fn recv(&mut self) {
        async fn next(signal: &mut Option<Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = next(&mut self.terminate) => {}
            () = next(&mut self.interrupt) => {}
        }
    }
}
