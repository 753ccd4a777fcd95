//! Names the central server derives from a device: type-name lookup keys, device ids, MQTT
//! usernames and topics, byte-for-byte as django-devicehub 0.2.1 makes them
//! (`shared/reference/devicehub-server.md`, "Formats the station must produce").
//!
//! This module is the one place these formats are defined; everything else calls it.

use crate::error::{CoreError, Result};

/// django-devicehub's DEVICE_ID_MAX_LENGTH.
pub const DEVICE_ID_MAX_LEN: usize = 128;
/// Longest prefix accepted for batch ids (the id as a whole must still fit DEVICE_ID_MAX_LEN).
pub const PREFIX_MAX_LEN: usize = 64;
/// Longest device name (django-devicehub's BaseDevice.name is a CharField(max_length=255)).
pub const NAME_MAX_LEN: usize = 255;
/// Batch ids are zero-padded to at least this many digits: `farm-weatherstation-007`, and take
/// more as the number needs (`-1000`, `-10000`), as django-devicehub's `iot_provision` names them
/// (`:03d`). The width is not widened to fit a batch's count: numbers continue across batches of
/// a prefix, and ids must stay the ones the server's own command would make. Lists and range
/// labels order ids by number instead ([`crate::store::NATURAL_COLLATION`]), so `-999` comes
/// before `-1000` whatever the width (issue 14, finding 6).
pub const ID_NUMBER_MIN_DIGITS: usize = 3;
/// The default MQTT topic prefix (django-devicehub's TOPIC_PREFIX).
pub const DEFAULT_TOPIC_PREFIX: &str = "things";
/// The default topic template; `{message_type}` is one of [`MessageType`].
pub const DEFAULT_TOPIC_TEMPLATE: &str = "{prefix}/{type_name}/{device_id}/{message_type}";
/// Placeholders a topic template may use.
pub const TOPIC_PLACEHOLDERS: [&str; 4] =
    ["{prefix}", "{type_name}", "{device_id}", "{message_type}"];

/// The three topics a device uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Data,
    Status,
    Cmd,
}

impl MessageType {
    pub const ALL: [MessageType; 3] = [MessageType::Data, MessageType::Status, MessageType::Cmd];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Data => "data",
            MessageType::Status => "status",
            MessageType::Cmd => "cmd",
        }
    }
}

/// How django-devicehub's registry looks a type up: case-insensitive, `_` ignored.
pub fn type_key(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The device type name as it appears in ids and topics (the class name in lower case).
pub fn type_name_lower(name: &str) -> String {
    name.to_lowercase()
}

/// `{app_label}-{model_name_lower}-{device_id}` where the model is `{TypeName}Device`.
pub fn mqtt_username(app_label: &str, type_name: &str, device_id: &str) -> String {
    format!(
        "{}-{}device-{}",
        app_label,
        type_name_lower(type_name),
        device_id
    )
}

/// Render a topic template for one message type.
pub fn topic(
    template: &str,
    prefix: &str,
    type_name: &str,
    device_id: &str,
    message: MessageType,
) -> String {
    template
        .replace("{prefix}", prefix)
        .replace("{type_name}", &type_name_lower(type_name))
        .replace("{device_id}", device_id)
        .replace("{message_type}", message.as_str())
}

/// `{prefix}{type_name_lower}-{NNN}`.
pub fn batch_device_id(prefix: &str, type_name: &str, number: u64) -> String {
    format!(
        "{prefix}{}-{number:0width$}",
        type_name_lower(type_name),
        width = ID_NUMBER_MIN_DIGITS
    )
}

/// The number of a batch id made by [`batch_device_id`] for this prefix and type, if it is one.
pub fn parse_batch_number(device_id: &str, prefix: &str, type_name: &str) -> Option<u64> {
    let stem = format!("{prefix}{}-", type_name_lower(type_name));
    let digits = device_id.strip_prefix(&stem)?;
    if digits.len() < ID_NUMBER_MIN_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The characters that can never be part of anything that goes into an MQTT topic.
fn topic_unsafe(c: char) -> bool {
    matches!(c, '/' | '+' | '#') || c.is_whitespace() || c.is_control()
}

fn check_topic_safe(field: &'static str, value: &str, max: usize, what: &str) -> Result<()> {
    if value.chars().count() > max {
        return Err(CoreError::invalid(
            field,
            format!(
                "{what} is {} characters long, the limit is {max}",
                value.chars().count()
            ),
            format!("use a shorter {what}"),
        ));
    }
    if let Some(bad) = value.chars().find(|c| topic_unsafe(*c)) {
        return Err(CoreError::invalid(
            field,
            format!("{what} '{}' contains {}", value.escape_default(), describe_char(bad)),
            format!(
                "{} go into MQTT topics, so '/', '+', '#', spaces and control characters are not allowed; \
                 use letters, digits, '-', '_' or '.'",
                plural(what)
            ),
        ));
    }
    Ok(())
}

/// The plural of a field's name in a message: "prefixes", "device ids".
fn plural(what: &str) -> String {
    if what.ends_with('x') || what.ends_with('s') {
        format!("{what}es")
    } else {
        format!("{what}s")
    }
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '\t' => "a tab".into(),
        c if c.is_whitespace() => "white space".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("'{c}'"),
    }
}

/// Device ids also live in device firmware, so they keep to the provisioning protocol's
/// identifier characters (`[A-Za-z0-9._:-]`, docs/protocol.md), a subset of what topics allow.
fn check_identifier(field: &'static str, value: &str, what: &str) -> Result<()> {
    if let Some(bad) = value
        .chars()
        .find(|c| !c.is_ascii() || !station_protocol::command::is_identifier_byte(*c as u8))
    {
        return Err(CoreError::invalid(
            field,
            format!(
                "{what} '{}' contains {}",
                value.escape_default(),
                describe_char(bad)
            ),
            format!(
                "{} are written into device firmware and MQTT topics: use letters, digits, \
                 '-', '_', '.' or ':'",
                plural(what)
            ),
        ));
    }
    Ok(())
}

/// A device id as django-devicehub stores it, MQTT topics carry it and firmware holds it.
pub fn validate_device_id(device_id: &str) -> Result<()> {
    if device_id.is_empty() {
        return Err(CoreError::invalid(
            "device id",
            "the device id is empty",
            "give a device id such as STATION-001",
        ));
    }
    check_topic_safe("device id", device_id, DEVICE_ID_MAX_LEN, "device id")?;
    check_identifier("device id", device_id, "device id")
}

/// A batch id prefix such as `farm-` (may be empty).
pub fn validate_prefix(prefix: &str) -> Result<()> {
    check_topic_safe("prefix", prefix, PREFIX_MAX_LEN, "prefix")?;
    check_identifier("prefix", prefix, "prefix")
}

/// A device type name: a Python class name, since django-devicehub generates `{Name}Device`.
pub fn validate_type_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok_start = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !ok_start || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.len() > 64
    {
        return Err(CoreError::invalid(
            "type name",
            format!("'{}' is not a valid device type name", name.escape_default()),
            "use the DeviceType class name from the server, e.g. WeatherStation: ASCII letters, digits \
             and '_', starting with a letter, at most 64 characters",
        ));
    }
    Ok(())
}

/// A Django app label: a Python identifier.
pub fn validate_app_label(label: &str) -> Result<()> {
    let ok_start = label
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !ok_start
        || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || label.len() > 100
    {
        return Err(CoreError::invalid(
            "app label",
            format!(
                "'{}' is not a valid Django app label",
                label.escape_default()
            ),
            "use the label of the Django app that defines the device type (e.g. myapp): letters, \
             digits and '_', not starting with a digit",
        ));
    }
    Ok(())
}

/// A topic prefix: may contain '/' between levels but no wildcards, spaces or empty levels.
pub fn validate_topic_prefix(prefix: &str) -> Result<()> {
    let bad = prefix.is_empty()
        || prefix.starts_with('/')
        || prefix.ends_with('/')
        || prefix.contains("//")
        || prefix
            .chars()
            .any(|c| matches!(c, '+' | '#') || c.is_whitespace() || c.is_control())
        || prefix.len() > 64;
    if bad {
        return Err(CoreError::invalid(
            "topic prefix",
            format!(
                "'{}' is not a valid MQTT topic prefix",
                prefix.escape_default()
            ),
            "use levels separated by '/', without '+', '#', spaces or empty levels, e.g. things",
        ));
    }
    Ok(())
}

/// A topic template must name the device and the message type, so every device gets its own
/// three topics.
pub fn validate_topic_template(template: &str) -> Result<()> {
    let fix = format!(
        "use placeholders {} (the default is {DEFAULT_TOPIC_PREFIX:?} with {DEFAULT_TOPIC_TEMPLATE})",
        TOPIC_PLACEHOLDERS.join(", ")
    );
    if !template.contains("{device_id}") || !template.contains("{message_type}") {
        return Err(CoreError::invalid(
            "topic template",
            format!("'{template}' must contain {{device_id}} and {{message_type}}"),
            fix,
        ));
    }
    let mut rest = template.to_string();
    for p in TOPIC_PLACEHOLDERS {
        rest = rest.replace(p, "x");
    }
    if rest.contains('{') || rest.contains('}') {
        return Err(CoreError::invalid(
            "topic template",
            format!("'{template}' has an unknown placeholder"),
            fix,
        ));
    }
    if rest
        .chars()
        .any(|c| matches!(c, '+' | '#') || c.is_whitespace() || c.is_control())
        || rest.contains("//")
    {
        return Err(CoreError::invalid(
            "topic template",
            format!("'{template}' has a wildcard, a space or an empty level"),
            fix,
        ));
    }
    Ok(())
}

/// A free-text name (device name, operator, station id): no control characters, bounded length.
pub fn validate_text(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(CoreError::invalid(
            field,
            format!("the {field} is longer than {max} characters"),
            format!("shorten the {field}"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(CoreError::invalid(
            field,
            format!("the {field} contains {}", describe_char(c)),
            format!("remove control characters from the {field}"),
        ));
    }
    Ok(())
}

/// A host name or address for the MQTT broker.
pub fn validate_broker_host(host: &str) -> Result<()> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    if !ok {
        return Err(CoreError::invalid(
            "broker host",
            format!(
                "'{}' is not a host name or IP address",
                host.escape_default()
            ),
            "give the MQTT broker's host name or IP address, e.g. mqtt.factory.local",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_django_devicehub() {
        assert_eq!(
            mqtt_username("myapp", "WeatherStation", "STATION-001"),
            "myapp-weatherstationdevice-STATION-001"
        );
        assert_eq!(
            topic(
                DEFAULT_TOPIC_TEMPLATE,
                "things",
                "WeatherStation",
                "STATION-001",
                MessageType::Cmd
            ),
            "things/weatherstation/STATION-001/cmd"
        );
        assert_eq!(
            batch_device_id("farm-", "WeatherStation", 7),
            "farm-weatherstation-007"
        );
        assert_eq!(
            batch_device_id("", "WeatherStation", 1234),
            "weatherstation-1234"
        );
    }

    #[test]
    fn type_lookup_ignores_case_and_underscores() {
        assert_eq!(type_key("Weather_Station"), type_key("weatherstation"));
        assert_eq!(type_key("WEATHERSTATION"), "weatherstation");
    }

    #[test]
    fn batch_numbers_parse_only_own_pattern() {
        assert_eq!(
            parse_batch_number("farm-weatherstation-007", "farm-", "WeatherStation"),
            Some(7)
        );
        assert_eq!(
            parse_batch_number("farm-weatherstation-1000", "farm-", "WeatherStation"),
            Some(1000)
        );
        assert_eq!(
            parse_batch_number("farm-weatherstation-07", "farm-", "WeatherStation"),
            None
        );
        assert_eq!(
            parse_batch_number("farm-weatherstation-00x", "farm-", "WeatherStation"),
            None
        );
        assert_eq!(
            parse_batch_number("x-weatherstation-001", "farm-", "WeatherStation"),
            None
        );
    }

    #[test]
    fn ids_reject_topic_wildcards_whitespace_and_control() {
        for bad in ["a/b", "a+b", "a#", "a b", "a\tb", "a\u{7}b", ""] {
            assert!(validate_device_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_device_id(&"x".repeat(129)).is_err());
        assert!(validate_device_id(&"x".repeat(128)).is_ok());
        assert!(validate_prefix("").is_ok());
        assert!(validate_prefix("farm-").is_ok());
        assert!(validate_prefix("farm/").is_err());
        // Firmware holds the id: the protocol's identifier characters only.
        assert!(validate_prefix("=cmd|").is_err());
        assert!(validate_device_id("café-001").is_err());
        assert!(validate_device_id("line_3:unit.7-001").is_ok());
    }

    #[test]
    fn finding_10_prefix_errors_spell_prefixes() {
        for bad in ["farm/", "=cmd|"] {
            let help = validate_prefix(bad).expect_err("refused").help();
            assert!(help.starts_with("prefixes "), "{help}");
            assert!(!help.contains("prefixs"), "{help}");
        }
        let help = validate_device_id("a b").expect_err("refused").help();
        assert!(help.starts_with("device ids "), "{help}");
    }

    #[test]
    fn templates_need_device_and_message_placeholders() {
        assert!(validate_topic_template(DEFAULT_TOPIC_TEMPLATE).is_ok());
        assert!(validate_topic_template("{prefix}/{device_id}").is_err());
        assert!(validate_topic_template("{prefix}/{devic_id}/{message_type}").is_err());
        assert!(validate_topic_template("{prefix}/+/{device_id}/{message_type}").is_err());
    }
}
