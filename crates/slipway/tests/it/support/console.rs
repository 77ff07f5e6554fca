//! The console as a browser without script sees it: sign in through the form, read pages, post
//! forms with the page's CSRF token, never following redirects (a test looks at where they go).

/// A reply read whole: status, `Location` (for 303s) and body.
pub(crate) struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

fn read(response: Result<ureq::Response, ureq::Error>, what: &str) -> Reply {
    let response = match response {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{what}: {e}"),
    };
    Reply {
        status: response.status(),
        location: response.header("location").map(str::to_string),
        body: response.into_string().unwrap_or_default(),
    }
}

/// One person's console session on a server at `base`.
pub(crate) struct Console {
    base: String,
    agent: ureq::Agent,
    /// The `Cookie` header value of the session.
    pub cookie: String,
}

impl Console {
    /// Sign in through the console's own form, as a browser does.
    pub(crate) fn sign_in(base: &str, username: &str, password: &str) -> Console {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let response = match agent
            .post(&format!("{base}/login"))
            .send_form(&[("username", username), ("password", password)])
        {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("the sign-in failed: {e}"),
        };
        assert_eq!(response.status(), 303, "a sign-in redirects");
        let cookie = response
            .all("set-cookie")
            .iter()
            .filter_map(|c| c.split(';').next())
            .filter(|c| !c.ends_with('='))
            .collect::<Vec<_>>()
            .join("; ");
        Console {
            base: base.to_string(),
            agent,
            cookie,
        }
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        read(
            self.agent
                .get(&format!("{}{path}", self.base))
                .set("Cookie", &self.cookie)
                .call(),
            &format!("GET {path}"),
        )
    }

    /// Post a form with `fields` and the CSRF token of the page at `page` (the page holding it).
    pub(crate) fn post_from(&self, page: &str, path: &str, fields: &[(&str, &str)]) -> Reply {
        let html = self.get(page).body;
        let csrf = csrf_in(&html);
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        read(
            self.agent
                .post(&format!("{}{path}", self.base))
                .set("Cookie", &self.cookie)
                .send_form(&all),
            &format!("POST {path}"),
        )
    }
}

/// The CSRF token of the first form of a console page.
pub(crate) fn csrf_in(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("the page has a form with a csrf field: {html}"))
        + marker.len();
    html[start..]
        .split('"')
        .next()
        .expect("a closing quote")
        .to_string()
}
