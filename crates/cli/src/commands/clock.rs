//! `clock …`: the server's clock as the gates see it (windows, freezes). It never changes the
//! server's time.

use clap::Subcommand;
use slipway_api::governance::{ClockView, SetClock};

use crate::error::Failure;
use crate::output;
use crate::remote::Remote;

#[derive(Subcommand)]
pub enum ClockCommand {
    /// Show the time gates are judged at.
    #[command(after_help = "Example:\n  slipway clock show")]
    Show {
        #[command(flatten)]
        remote: Remote,
    },
    /// Move a manual clock (server started with SLIPWAY_CLOCK=manual; rehearsals and tests).
    #[command(after_help = "Example:\n  slipway clock set 2026-11-24T19:00:00Z")]
    Set {
        at: String,
        #[command(flatten)]
        remote: Remote,
    },
}

pub(crate) fn clock(command: ClockCommand) -> Result<(), Failure> {
    let (remote, answer) = match command {
        ClockCommand::Show { remote } => {
            let a = remote.client().get::<ClockView>("/api/v1/clock")?;
            (remote, a)
        }
        ClockCommand::Set { at, remote } => {
            let a = remote
                .client()
                .put::<ClockView>("/api/v1/clock", &SetClock { now: at })?;
            (remote, a)
        }
    };
    output::show(&remote, &answer, |a| {
        let mode = if a.manual { "manual" } else { "system" };
        println!("{} ({mode} clock)", a.now);
    });
    Ok(())
}
