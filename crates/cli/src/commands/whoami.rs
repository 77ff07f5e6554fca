//! `whoami`: who the token belongs to. It never changes anything on the server.

use crate::error::Failure;
use crate::output::{cell, show};
use crate::remote::Remote;
use serde_json::Value;

pub(crate) fn whoami(remote: &Remote) -> Result<(), Failure> {
    let me = remote.client().get::<Value>("/api/v1/whoami")?;
    show(remote, &me, |v| {
        println!("{} ({})", cell(&v["username"]), cell(&v["role"]))
    });
    Ok(())
}
