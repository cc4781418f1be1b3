//! The SMTP client: lettre's async transport on tokio, TLS by rustls on the ring provider (the
//! one provider of the whole binary), trusting Mozilla's roots plus an optional private CA.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpConfig, SmtpSecurity};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("[smtp] from {0:?} is not a mail address")]
    From(String),
    #[error("[smtp] ca_file {path}: {detail}")]
    CaFile { path: String, detail: String },
    #[error("[smtp] TLS setup for {host}: {source}")]
    Tls {
        host: String,
        source: lettre::transport::smtp::Error,
    },
}

/// Why one message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message itself is at fault (a recipient that is no address): retrying cannot help.
    #[error("{0}")]
    Invalid(String),
    /// The relay refused the one recipient for good (see [`refuses_mailbox`]): the same
    /// message would be refused again.
    #[error("the relay refused the recipient: {0}")]
    Refused(lettre::transport::smtp::Error),
    /// The relay refused or could not be reached: worth another attempt later.
    #[error("{0}")]
    Transport(#[from] lettre::transport::smtp::Error),
}

/// Whether a relay's reply says the recipient's mailbox cannot receive mail, now or later.
///
/// A bare 550 does not tell: relays also send it for a sender they will not relay for, or a
/// policy that the admin can change, and a message refused for those must wait for the fix.
/// The RFC 3463 enhanced code does tell, and relays (Postfix, Exchange, Gmail, SES) send one:
/// X.1.1 no such mailbox, X.1.2 no such domain, X.1.3 bad address syntax, X.1.6 mailbox moved,
/// X.1.10 the domain takes no mail (null MX), X.2.1 mailbox disabled. Only permanent (5.x.x)
/// replies count; 4.x.x are retried like any other.
pub fn refuses_mailbox(reply: &str) -> bool {
    let code = reply.split_whitespace().next().unwrap_or("");
    let mut parts = code.split('.');
    let (Some(class), Some(subject), Some(detail), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    class == "5"
        && matches!(
            (subject, detail),
            ("1", "1" | "2" | "3" | "6" | "10") | ("2", "1")
        )
}

/// A configured relay. Cheap to clone; connections are pooled and reused across a batch.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    relay: String,
}

impl Mailer {
    /// `None` when `[smtp]` names no host: nothing is sent and messages stay in the outbox.
    /// Reads `ca_file` now, so a bad path stops the server at start-up.
    pub fn from_config(config: &SmtpConfig) -> Result<Option<Mailer>, MailError> {
        let Some(host) = config.host.as_deref().map(str::trim) else {
            return Ok(None);
        };
        let from_text = config.from.clone().unwrap_or_default();
        let from = from_text
            .parse::<Mailbox>()
            .map_err(|_| MailError::From(from_text.clone()))?;
        // rustls takes an IP literal as an IP server name; brackets are URL syntax only.
        let server = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let tls = match config.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::Starttls => Tls::Required(tls_parameters(server, config)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(server, config)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server)
            .port(config.port())
            .tls(tls)
            .timeout(Some(Duration::from_secs(config.timeout_seconds)));
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
            relay: format!("{server}:{}", config.port()),
        }))
    }

    /// `host:port` of the relay, for logs.
    pub fn relay(&self) -> &str {
        &self.relay
    }

    /// Sends one plain-text message to `to` (all recipients on one message). `id` is the
    /// outbox message's: its `Message-ID` (RFC 5322 §3.6.4, which relays and mailbox providers
    /// expect) is the same on every attempt, so a retry after a lost answer is known for the
    /// same message.
    pub async fn send(
        &self,
        to: &[String],
        id: &str,
        subject: &str,
        body: &str,
    ) -> Result<(), SendError> {
        if to.is_empty() {
            return Err(SendError::Invalid("no recipient".into()));
        }
        let mut builder = Message::builder()
            .from(self.from.clone())
            .message_id(Some(format!("<{id}@{}>", self.from.email.domain())))
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for address in to {
            let mailbox = address.parse::<Mailbox>().map_err(|e| {
                SendError::Invalid(format!("{address:?} is not a mail address: {e}"))
            })?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .body(body.to_string())
            .map_err(|e| SendError::Invalid(format!("cannot build the message: {e}")))?;
        self.transport.send(message).await.map_err(|e| {
            // With several recipients one refusal fails them all: the delivery sends to each
            // on its own.
            let reply = std::error::Error::source(&e).map(ToString::to_string);
            match reply {
                Some(reply) if e.is_permanent() && to.len() == 1 && refuses_mailbox(&reply) => {
                    SendError::Refused(e)
                }
                _ => SendError::Transport(e),
            }
        })?;
        Ok(())
    }
}

fn tls_parameters(host: &str, config: &SmtpConfig) -> Result<TlsParameters, MailError> {
    let mut builder = TlsParameters::builder(host.to_string());
    if let Some(path) = &config.ca_file {
        let ca_error = |detail: String| MailError::CaFile {
            path: path.display().to_string(),
            detail,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let has_certificate = String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----");
        if !has_certificate {
            return Err(ca_error("no PEM certificate in the file".into()));
        }
        let certificate =
            Certificate::from_pem(&pem).map_err(|e| ca_error(format!("not valid PEM: {e}")))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build_rustls().map_err(|source| MailError::Tls {
        host: host.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::refuses_mailbox;

    #[test]
    fn only_enhanced_codes_about_the_recipients_mailbox_are_final() {
        for reply in [
            "5.1.1 <nobody@example.com>: Recipient address rejected: User unknown",
            "5.1.2 bad destination system",
            "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            "5.2.1 The email account that you tried to reach is disabled.",
        ] {
            assert!(refuses_mailbox(reply), "{reply}");
        }
        for reply in [
            // No enhanced code: could be the sender or a policy.
            "Requested action not taken: mailbox unavailable",
            "",
            // Sender and policy problems the admin can mend.
            "5.7.1 Relaying denied",
            "5.1.8 Sender address rejected: Domain not found",
            "5.7.25 The IP address sending this message does not have a PTR record",
            // Transient: retried.
            "4.2.1 mailbox temporarily disabled",
            "4.1.1 try again later",
            // Not a code.
            "5.1.1.1 too many parts",
            "5.1 too few",
        ] {
            assert!(!refuses_mailbox(reply), "{reply}");
        }
    }
}
