//! A small validator for Swagger 1.1 models as written in Asterisk's `rest-api/api-docs/*.json`:
//! loads the models, resolves inheritance (`subTypes` / `extends`), and checks a JSON value for
//! required properties, primitive types (`string`, `int`, `long`, `double`, `boolean`, `Date`,
//! `object`, `List[...]`), nested model references, allowable values and undocumented
//! properties. Used by this crate's tests on real captures and by the PBX simulator's tests on
//! the frames it emits.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

/// Why the api-docs could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read api-docs file {path}: {source}; check the path to Asterisk's rest-api/api-docs")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("api-docs file {path} is not JSON: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("api-docs model {model} is malformed: {detail}")]
    Model { model: String, detail: String },
}

/// One property of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Swagger type: a primitive, `List[T]` or a model name.
    pub type_name: String,
    pub required: bool,
    /// `allowableValues` of kind `LIST`, if given.
    pub allowable_values: Option<Vec<String>>,
}

/// One model (`models.X` in an api-docs file).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Model {
    pub id: String,
    pub properties: BTreeMap<String, Property>,
    pub sub_types: Vec<String>,
    pub extends: Option<String>,
    pub discriminator: Option<String>,
}

/// One thing wrong with a validated value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path such as `$.channel.caller.number`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Validation strictness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Report properties a model does not declare (Swagger 1.1 allows them; Asterisk 22 sends
    /// none, so tests keep this on to notice drift).
    pub reject_undocumented: bool,
    /// Check `allowableValues` lists (e.g. `Channel.state`).
    pub check_allowable_values: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reject_undocumented: true,
            check_allowable_values: true,
        }
    }
}

/// A set of models loaded from one or more api-docs files.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    models: HashMap<String, Model>,
    /// Child → parent, from `subTypes` of the parent or `extends` of the child.
    parents: HashMap<String, String>,
    options: Options,
}

/// The api-docs files whose models describe events and the objects inside them.
pub const EVENT_API_DOCS: &[&str] = &[
    "events.json",
    "channels.json",
    "bridges.json",
    "asterisk.json",
    "deviceStates.json",
    "endpoints.json",
    "playbacks.json",
    "recordings.json",
    "applications.json",
    "sounds.json",
    "mailboxes.json",
];

impl Schema {
    /// Loads `files` from the api-docs directory `dir`.
    pub fn load_dir(dir: &Path, files: &[&str]) -> Result<Self, SchemaError> {
        let mut docs = Vec::with_capacity(files.len());
        for f in files {
            let path = dir.join(f);
            let text = std::fs::read_to_string(&path).map_err(|source| SchemaError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let doc = serde_json::from_str(&text).map_err(|source| SchemaError::Json {
                path: path.display().to_string(),
                source,
            })?;
            docs.push(doc);
        }
        Self::from_docs(&docs)
    }

    /// Builds the schema from already parsed api-docs documents.
    pub fn from_docs(docs: &[Value]) -> Result<Self, SchemaError> {
        let mut schema = Schema::default();
        for doc in docs {
            let Some(models) = doc.get("models").and_then(Value::as_object) else {
                continue;
            };
            for (name, m) in models {
                let model = parse_model(name, m)?;
                schema.models.insert(name.clone(), model);
            }
        }
        for m in schema.models.values() {
            for s in &m.sub_types {
                schema.parents.insert(s.clone(), m.id.clone());
            }
            if let Some(p) = &m.extends {
                schema.parents.insert(m.id.clone(), p.clone());
            }
        }
        Ok(schema)
    }

    /// Changes the strictness.
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// The model called `name`, if loaded.
    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.get(name)
    }

    /// The properties of `name` including inherited ones (own properties win).
    pub fn effective_properties(&self, name: &str) -> BTreeMap<String, Property> {
        let mut chain = Vec::new();
        let mut cur = Some(name.to_owned());
        while let Some(n) = cur {
            if chain.contains(&n) {
                break; // a cycle in the docs: stop rather than loop
            }
            cur = self.parents.get(&n).cloned();
            chain.push(n);
        }
        let mut props = BTreeMap::new();
        for n in chain.iter().rev() {
            if let Some(m) = self.models.get(n) {
                for (k, p) in &m.properties {
                    props.insert(k.clone(), p.clone());
                }
            }
        }
        props
    }

    /// Validates a WebSocket message: its `type` names the model (the `Message` discriminator).
    pub fn validate_message(&self, v: &Value) -> Vec<Violation> {
        let Some(t) = v.get("type").and_then(Value::as_str) else {
            return vec![Violation {
                path: "$".into(),
                message: "message has no string `type` (the Message discriminator)".into(),
            }];
        };
        if !self.models.contains_key(t) {
            return vec![Violation {
                path: "$.type".into(),
                message: format!("no model named {t:?} in the loaded api-docs"),
            }];
        }
        if !self.is_subtype_of(t, "Message") {
            return vec![Violation {
                path: "$.type".into(),
                message: format!("model {t:?} is not a subtype of Message"),
            }];
        }
        self.validate(t, v)
    }

    /// Whether `child` is `ancestor` or inherits from it.
    pub fn is_subtype_of(&self, child: &str, ancestor: &str) -> bool {
        let mut cur = Some(child);
        let mut steps = 0;
        while let Some(n) = cur {
            if n == ancestor {
                return true;
            }
            steps += 1;
            if steps > 64 {
                return false;
            }
            cur = self.parents.get(n).map(String::as_str);
        }
        false
    }

    /// Validates `v` against the model `model`.
    pub fn validate(&self, model: &str, v: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        self.check_type(model, v, "$", &mut out);
        out
    }

    fn check_model(&self, model: &str, v: &Value, path: &str, out: &mut Vec<Violation>) {
        let Some(obj) = v.as_object() else {
            out.push(violation(
                path,
                format!("expected a {model} object, got {}", kind(v)),
            ));
            return;
        };
        let props = self.effective_properties(model);
        for (name, p) in &props {
            let sub = format!("{path}.{name}");
            match obj.get(name) {
                None if p.required => out.push(violation(
                    &sub,
                    format!("required property of {model} is missing"),
                )),
                None => {}
                Some(val) => {
                    self.check_type(&p.type_name, val, &sub, out);
                    if self.options.check_allowable_values {
                        if let (Some(allowed), Some(s)) = (&p.allowable_values, val.as_str()) {
                            if !allowed.iter().any(|a| a == s) {
                                out.push(violation(
                                    &sub,
                                    format!("{s:?} is not one of the allowable values {allowed:?}"),
                                ));
                            }
                        }
                    }
                }
            }
        }
        if self.options.reject_undocumented {
            for k in obj.keys() {
                if !props.contains_key(k) {
                    out.push(violation(
                        &format!("{path}.{k}"),
                        format!("property not documented in model {model}"),
                    ));
                }
            }
        }
    }

    fn check_type(&self, type_name: &str, v: &Value, path: &str, out: &mut Vec<Violation>) {
        if let Some(inner) = type_name
            .strip_prefix("List[")
            .and_then(|s| s.strip_suffix(']'))
        {
            match v.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_type(inner, item, &format!("{path}[{i}]"), out);
                    }
                }
                None => out.push(violation(
                    path,
                    format!("expected {type_name}, got {}", kind(v)),
                )),
            }
            return;
        }
        let ok = match type_name {
            "string" => v.is_string(),
            "int" | "long" => v.is_i64() || v.is_u64(),
            "double" | "float" => v.is_number(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            "Date" => match v.as_str() {
                Some(s) => {
                    if crate::ari_time::parse_ari_time(s).is_none() {
                        out.push(violation(path, format!("{s:?} is not a valid Date")));
                    }
                    true
                }
                None => false,
            },
            "void" => v.is_null(),
            model if self.models.contains_key(model) => {
                self.check_model(model, v, path, out);
                true
            }
            other => {
                out.push(violation(
                    path,
                    format!("type {other:?} is neither a primitive nor a loaded model; load its api-docs file"),
                ));
                true
            }
        };
        if !ok {
            out.push(violation(
                path,
                format!("expected {type_name}, got {}", kind(v)),
            ));
        }
    }
}

fn violation(path: &str, message: String) -> Violation {
    Violation {
        path: path.to_owned(),
        message,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a floating-point number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_model(name: &str, m: &Value) -> Result<Model, SchemaError> {
    let err = |detail: &str| SchemaError::Model {
        model: name.to_owned(),
        detail: detail.to_owned(),
    };
    let mut model = Model {
        id: m
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_owned(),
        ..Model::default()
    };
    if let Some(props) = m.get("properties") {
        let props = props
            .as_object()
            .ok_or_else(|| err("`properties` is not an object"))?;
        for (pname, p) in props {
            let type_name = p
                .get("type")
                .and_then(Value::as_str)
                .ok_or_else(|| err(&format!("property {pname} has no `type`")))?
                .to_owned();
            let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
            let allowable_values = p
                .get("allowableValues")
                .filter(|a| a.get("valueType").and_then(Value::as_str) == Some("LIST"))
                .and_then(|a| a.get("values"))
                .and_then(Value::as_array)
                .map(|vals| {
                    vals.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                });
            model.properties.insert(
                pname.clone(),
                Property {
                    type_name,
                    required,
                    allowable_values,
                },
            );
        }
    }
    if let Some(subs) = m.get("subTypes").and_then(Value::as_array) {
        model.sub_types = subs
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
    }
    model.extends = m.get("extends").and_then(Value::as_str).map(str::to_owned);
    model.discriminator = m
        .get("discriminator")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tiny() -> Schema {
        Schema::from_docs(&[json!({"models": {
            "Message": {"id": "Message", "discriminator": "type",
                "properties": {"type": {"type": "string", "required": true}},
                "subTypes": ["Event"]},
            "Event": {"id": "Event", "properties": {
                "timestamp": {"type": "Date", "required": true}}, "subTypes": ["Thing"]},
            "Thing": {"id": "Thing", "properties": {
                "n": {"type": "int", "required": true},
                "tags": {"type": "List[string]"},
                "state": {"type": "string", "allowableValues": {"valueType": "LIST", "values": ["Up", "Down"]}},
                "child": {"type": "Child"}}},
            "Child": {"id": "Child", "properties": {"ok": {"type": "boolean", "required": true}}}
        }})])
        .unwrap()
    }

    #[test]
    fn inherited_required_properties_are_checked() {
        let s = tiny();
        let good = json!({"type": "Thing", "timestamp": "2026-11-28T09:58:19.327+0000", "n": 1,
            "tags": ["a"], "state": "Up", "child": {"ok": true}});
        assert_eq!(s.validate_message(&good), vec![]);
        let bad = json!({"type": "Thing", "n": "1", "tags": [1], "state": "Sideways",
            "child": {}, "extra": 1});
        let v: Vec<String> = s
            .validate_message(&bad)
            .iter()
            .map(|v| v.path.clone())
            .collect();
        assert!(v.contains(&"$.timestamp".to_owned()), "{v:?}");
        assert!(v.contains(&"$.n".to_owned()));
        assert!(v.contains(&"$.tags[0]".to_owned()));
        assert!(v.contains(&"$.state".to_owned()));
        assert!(v.contains(&"$.child.ok".to_owned()));
        assert!(v.contains(&"$.extra".to_owned()));
    }

    #[test]
    fn unknown_message_type_is_reported() {
        let s = tiny();
        assert_eq!(s.validate_message(&json!({"type": "Nope"})).len(), 1);
        assert_eq!(s.validate_message(&json!({"x": 1})).len(), 1);
    }
}
