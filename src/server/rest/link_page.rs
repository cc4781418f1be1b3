//! The pages the links in activation and reset messages open, and the page that asks for a
//! reset link. A link is a GET in a mail client, so it opens a form (served here, no scripts,
//! no outside resources) whose POST redeems it; a script may POST JSON to the same address
//! instead (see `auth.rs`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::token::LinkPurpose;

/// What a page says, beyond its form.
pub enum Outcome<'a> {
    /// The form, perhaps with what was wrong with the last attempt.
    Form {
        token: &'a str,
        policy: &'a str,
        problem: Option<&'a str>,
    },
    Done,
    /// The link is used, expired or unknown.
    Dead,
}

/// The page for `purpose` at `action` (its own path).
pub fn page(purpose: LinkPurpose, action: &str, status: StatusCode, outcome: Outcome) -> Response {
    let title = match purpose {
        LinkPurpose::SetPassword => "Choose your password",
        LinkPurpose::ResetPassword => "Reset your password",
    };
    let body = match outcome {
        Outcome::Form {
            token,
            policy,
            problem,
        } => {
            let problem = problem
                .map(|p| format!("<p class=\"problem\" role=\"alert\">{}</p>", escape(p)))
                .unwrap_or_default();
            format!(
                "{problem}<form method=\"post\" action=\"{action}\">\
                 <input type=\"hidden\" name=\"token\" value=\"{token}\">\
                 <label>New password<input type=\"password\" name=\"password\" \
                 autocomplete=\"new-password\" required autofocus></label>\
                 <label>Repeat it<input type=\"password\" name=\"confirm\" \
                 autocomplete=\"new-password\" required></label>\
                 <p class=\"hint\">{policy}</p>\
                 <button type=\"submit\">Set password</button></form>",
                action = escape(action),
                token = escape(token),
                policy = escape(policy),
            )
        }
        Outcome::Done => "<p>Your password is set. You can now sign in with it.</p>".into(),
        Outcome::Dead => "<p class=\"problem\">This link is invalid, already used or expired. \
                          Ask for a new one (or ask your administrator).</p>"
            .into(),
    };
    shell(title, &body, status)
}

/// What the page that asks for a reset link shows.
pub enum Forgot {
    /// The form: a userName or an email address.
    Form { problem: Option<&'static str> },
    /// The request is taken: the same words whether or not an account matched.
    Sent,
    /// Recovery is off (`[recovery] enabled = false`).
    Disabled,
}

/// `GET /auth/password/forgot`, and the answer to its form.
pub fn forgot_page(action: &str, status: StatusCode, outcome: Forgot) -> Response {
    let body = match outcome {
        Forgot::Form { problem } => {
            let problem = problem
                .map(|p| format!("<p class=\"problem\" role=\"alert\">{}</p>", escape(p)))
                .unwrap_or_default();
            format!(
                "{problem}<form method=\"post\" action=\"{action}\">\
                 <label>User name or email address<input type=\"text\" name=\"username\" \
                 autocomplete=\"username\" required autofocus></label>\
                 <p class=\"hint\">A link to choose a new password is sent to the address of \
                 the account.</p>\
                 <button type=\"submit\">Send the link</button></form>",
                action = escape(action),
            )
        }
        Forgot::Sent => "<p>If an account matches, a link to choose a new password is on its \
                         way to its address. It works once, for a limited time.</p>"
            .into(),
        Forgot::Disabled => "<p class=\"problem\">Passwords cannot be recovered here; ask your \
                             administrator.</p>"
            .into(),
    };
    shell("Forgotten password", &body, status)
}

/// A whole page: `body` under the title, with the headers every page here has.
fn shell(title: &str, body: &str, status: StatusCode) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>"
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        // The token is in the address: it must not leave in a Referer, nor stay in a cache.
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}\
main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px}\
h1{font-size:1.4rem;margin-top:0}label{display:block;margin:1rem 0}\
input{display:block;width:100%;box-sizing:border-box;padding:.5rem;margin-top:.3rem}\
button{padding:.6rem 1.2rem}.hint{color:#555;font-size:.9rem}.problem{color:#a00}";

/// HTML text and attribute escaping.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
