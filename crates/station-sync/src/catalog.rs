//! The server's device types, so usernames and topics are built from the server's truth.
//!
//! A local type the server also has takes the server's app label, topic prefix and template
//! while no device of it holds credentials (the core refuses the change after that: such a
//! difference is reported instead). Server types the station lacks are listed, not added: a
//! type also needs the broker address its firmware is given, which only a person knows.

use serde::Serialize;
use station_core::{naming, CoreError, Store, TypeEdit};

use crate::client::Client;
use crate::error::Result;

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CatalogReport {
    /// Local types already matching the server.
    pub matching: Vec<String>,
    /// Local types changed to the server's app label / topics.
    pub updated: Vec<String>,
    /// Differences the station could not fix, with what to do.
    pub mismatched: Vec<String>,
    /// Types the server has and this station does not.
    pub server_only: Vec<String>,
}

pub fn pull(store: &mut Store, client: &Client) -> Result<CatalogReport> {
    let server = client.types()?;
    let mut report = CatalogReport::default();
    for t in &server {
        let expected_model = format!("{}device", naming::type_name_lower(&t.name));
        if t.model_name.to_lowercase() != expected_model {
            report.mismatched.push(format!(
                "{}: the server's model is {}, not {}Device; usernames would differ",
                t.name, t.model_name, t.name
            ));
            continue;
        }
        let local = match store.find_type(&t.name) {
            Ok(local) => local,
            Err(CoreError::UnknownType { .. }) => {
                report.server_only.push(format!(
                    "{} (add it as a device type with app label {})",
                    t.name, t.app_label
                ));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if local.app_label == t.app_label
            && local.topic_prefix == t.topic_prefix
            && local.topic_template == t.topic_template
        {
            report.matching.push(local.name);
            continue;
        }
        let edit = TypeEdit {
            app_label: Some(t.app_label.clone()),
            topic_prefix: Some(t.topic_prefix.clone()),
            topic_template: Some(t.topic_template.clone()),
            ..TypeEdit::default()
        };
        match store.edit_type(&local.name, edit) {
            Ok(_) => report.updated.push(local.name),
            Err(e @ (CoreError::Conflict { .. } | CoreError::InvalidInput { .. })) => {
                report.mismatched.push(format!(
                    "{}: station has app label '{}', topics '{}' + '{}'; the server has '{}', '{}' + '{}' ({e})",
                    local.name,
                    local.app_label,
                    local.topic_prefix,
                    local.topic_template,
                    t.app_label,
                    t.topic_prefix,
                    t.topic_template
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    for local in store.list_types()? {
        if !server
            .iter()
            .any(|t| naming::type_key(&t.name) == naming::type_key(&local.name))
        {
            report.mismatched.push(format!(
                "{}: the server has no such type, so it will refuse these devices",
                local.name
            ));
        }
    }
    let notes = report.mismatched.join("\n");
    let _ = store.set_sync_runtime(&[(
        station_core::store::sync_config::runtime_key::CATALOG_NOTES,
        (!notes.is_empty()).then_some(notes.as_str()),
    )]);
    Ok(report)
}
