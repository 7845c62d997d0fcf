//! Reading the messages `tick` wrote to the outbox, and the signed links in them.

use super::{Server, fixture};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The `.eml` files, oldest first, with quoted-printable soft breaks and `=3D` undone and
/// folded headers unfolded: enough to read the links in them.
pub fn emails(server: &Server) -> Vec<String> {
    let dir = server.data_dir().join("outbox/email");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .replace("=\r\n", "")
                .replace("=\n", "")
                .replace("\r\n ", " ")
                .replace("\n ", " ")
                .replace("=3D", "=")
        })
        .collect()
}

/// The signed links in a message's body, pointed at this server (tick signs them for the
/// default public URL).
pub fn links(server: &Server, eml: &str) -> Vec<String> {
    let body = eml
        .split_once("\r\n\r\n")
        .or_else(|| eml.split_once("\n\n"))
        .map_or(eml, |(_, body)| body);
    body.split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .filter_map(|w| w.split_once("/l/").map(|(_, token)| token))
        .filter(|token| token.contains('.'))
        .map(|token| format!("{}/l/{token}", server.base))
        .collect()
}

pub fn list_unsubscribe(server: &Server, eml: &str) -> String {
    let line = eml
        .lines()
        .find(|l| l.starts_with("List-Unsubscribe: "))
        .expect("List-Unsubscribe header");
    let token = line
        .split_once("/l/")
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(token, _)| token)
        .expect("a link in List-Unsubscribe");
    format!("{}/l/{token}", server.base)
}

/// The fixture order, placed at `at` with the given id and number.
pub fn order(at: DateTime<Utc>, id: u64, name: &str) -> Vec<u8> {
    let mut order: Value = serde_json::from_slice(&fixture("shopify/orders_create.json")).unwrap();
    for field in ["created_at", "processed_at", "updated_at"] {
        order[field] = json!(at.to_rfc3339());
    }
    order["id"] = json!(id);
    order["name"] = json!(name);
    serde_json::to_vec(&order).unwrap()
}
