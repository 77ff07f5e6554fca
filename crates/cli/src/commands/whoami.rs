//! `whoami`: who the token belongs to. It never changes anything on the server.

use slipway_api::access::WhoAmI;

use crate::error::Failure;
use crate::output::{show, word};
use crate::remote::Remote;

pub(crate) fn whoami(remote: &Remote) -> Result<(), Failure> {
    let me = remote.client().get::<WhoAmI>("/api/v1/whoami")?;
    show(remote, &me, |v| {
        println!("{} ({})", v.username, word(&v.role))
    });
    Ok(())
}
