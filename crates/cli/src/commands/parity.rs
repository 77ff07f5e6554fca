//! `parity`: undeclared differences between two environments (variables, target facts,
//! deployed digests). It only reads; it never changes either environment.

use clap::Args;
use serde_json::Value;

use crate::client::encode;
use crate::error::{Exit, Failure};
use crate::output::{self, cell, table};
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
    let report = args.remote.client().get::<Value>(&format!(
        "/api/v1/projects/{}/parity?{}",
        encode(&args.project),
        query.join("&")
    ))?;
    output::show(&args.remote, &report, |r| {
        println!(
            "parity of {}: {} ({}) vs {} ({})",
            args.project,
            cell(&r["left"]),
            cell(&r["left_release"]),
            cell(&r["right"]),
            cell(&r["right_release"])
        );
        let rows: Vec<Vec<String>> = r["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                vec![
                    if f["drift"] == true {
                        "DRIFT"
                    } else {
                        "declared"
                    }
                    .to_string(),
                    cell(&f["kind"]),
                    cell(&f["detail"]),
                ]
            })
            .collect();
        table(&["", "KIND", "DETAIL"], &rows);
    });
    let drift = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["drift"] == true)
        .count();
    if drift > 0 {
        return Err(Failure::new(
            Exit::Failed,
            format!(
                "{drift} undeclared difference(s) between {} and {}",
                cell(&report["left"]),
                cell(&report["right"])
            ),
        ));
    }
    Ok(())
}
