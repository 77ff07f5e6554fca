//! `parity`: undeclared differences between two environments (variables, target facts,
//! deployed digests). It only reads; it never changes either environment.

use clap::Args;
use slipway_core::governance::parity::ParityReport;

use crate::client::encode;
use crate::error::{Exit, Failure};
use crate::output::{self, or_dash, table, word};
use crate::remote::Remote;

#[derive(Args)]
pub struct ParityArgs {
    #[arg(long)]
    project: String,
    /// Default: MET.
    #[arg(long)]
    left: Option<String>,
    /// Default: the last environment of the chain.
    #[arg(long)]
    right: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// Print the parity report; exit 1 when there is undeclared drift, so CI can require parity.
pub(crate) fn parity(args: ParityArgs) -> Result<(), Failure> {
    let mut query = Vec::new();
    if let Some(l) = &args.left {
        query.push(format!("left={}", encode(l)));
    }
    if let Some(r) = &args.right {
        query.push(format!("right={}", encode(r)));
    }
    let report = args.remote.client().get::<ParityReport>(&format!(
        "/api/v1/projects/{}/parity?{}",
        encode(&args.project),
        query.join("&")
    ))?;
    output::show(&args.remote, &report, |r| {
        println!(
            "parity of {}: {} ({}) vs {} ({})",
            args.project,
            r.left,
            or_dash(&r.left_release),
            r.right,
            or_dash(&r.right_release)
        );
        let rows: Vec<Vec<String>> = r
            .findings
            .iter()
            .map(|f| {
                vec![
                    if f.drift { "DRIFT" } else { "declared" }.to_string(),
                    word(&f.kind),
                    f.detail.clone(),
                ]
            })
            .collect();
        table(&["", "KIND", "DETAIL"], &rows);
    });
    let drift = report.drift().len();
    if drift > 0 {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "{drift} undeclared difference(s) between {} and {}",
                report.left, report.right
            ),
        ));
    }
    Ok(())
}
