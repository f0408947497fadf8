//! The types the simulator serves and their schemas (docs/rancher-api.md §3, §8):
//! fields with their create/update rules, collection filters with the modifiers
//! of their class (§4), methods and actions.
//!
//! Schemas are static tables, not code: a reader checks them line by line
//! against the field tables of the doc, and rendering a 20,000-object list does
//! not rebuild them per object. Every other module asks these tables what a
//! field is instead of naming fields itself.

use serde::Serialize;

/// A resource type of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    ApiVersion,
    Error,
    Project,
    Registry,
    Credential,
    Schema,
}

pub(super) const ALL_KINDS: [Kind; 6] = [
    Kind::ApiVersion,
    Kind::Error,
    Kind::Project,
    Kind::Registry,
    Kind::Credential,
    Kind::Schema,
];

impl Kind {
    /// Resolves a URL type name: case-insensitive, singular or plural (§2).
    pub(super) fn from_url(name: &str) -> Option<Kind> {
        ALL_KINDS.into_iter().find(|kind| {
            let s = schema(*kind, false);
            s.id.eq_ignore_ascii_case(name) || s.plural.eq_ignore_ascii_case(name)
        })
    }

    /// `"1"` + the initials of the base type (§2).
    fn id_prefix(self) -> &'static str {
        match self {
            Kind::Registry => "1sp",
            Kind::Credential => "1c",
            _ => "1a",
        }
    }

    pub(super) fn format_id(self, num: u64) -> String {
        format!("{}{num}", self.id_prefix())
    }
}

/// Parses `"1" + letters + digits`; the letters are not checked against a type (§2).
pub(super) fn parse_id(id: &str) -> Option<u64> {
    let rest = id.strip_prefix('1')?;
    let digits = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    if digits.len() == rest.len() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Filter class of a field: decides its modifiers and how values compare (§4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    Str,
    Date,
    Int,
    Enum,
    Reference,
    Boolean,
    /// The `id` column: compared as a parsed id.
    Id,
}

impl Class {
    pub(super) fn modifiers(self) -> &'static [&'static str] {
        match self {
            Class::Str => &["eq", "ne", "prefix", "null", "notnull"],
            Class::Date | Class::Int | Class::Id => {
                &["eq", "ne", "lt", "lte", "gt", "gte", "null", "notnull"]
            }
            Class::Enum | Class::Reference | Class::Boolean => &["eq", "ne", "null", "notnull"],
        }
    }
}

/// One entry of `resourceFields`, serialised as the schema shows it (§8).
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Field {
    #[serde(skip)]
    pub name: &'static str,
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub create: bool,
    pub update: bool,
    pub required: bool,
    pub nullable: bool,
    pub read_on_create_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub options: &'static [&'static str],
}

impl Field {
    /// A read-only, nullable field.
    const fn ro(name: &'static str, ty: &'static str) -> Field {
        Field {
            name,
            ty,
            create: false,
            update: false,
            required: false,
            nullable: true,
            read_on_create_only: false,
            min_length: None,
            max_length: None,
            options: &[],
        }
    }

    /// An optional string the caller may set on create and update.
    const fn cu(name: &'static str, ty: &'static str, max: usize) -> Field {
        Field {
            create: true,
            update: true,
            max_length: Some(max),
            ..Field::ro(name, ty)
        }
    }

    /// Must be given on create and may not be null.
    const fn required(self) -> Field {
        Field {
            create: true,
            required: true,
            nullable: false,
            ..self
        }
    }

    const fn min(self, min: usize) -> Field {
        Field {
            min_length: Some(min),
            ..self
        }
    }

    const fn options(self, options: &'static [&'static str]) -> Field {
        Field { options, ..self }
    }
}

/// A schema as one caller sees it.
pub(super) struct Schema {
    pub id: &'static str,
    pub plural: &'static str,
    pub base_type: &'static str,
    pub resource_methods: &'static [&'static str],
    /// Empty when the type has no collection.
    pub collection_methods: &'static [&'static str],
    /// Groups of fields (the common ones, the type's own, ...).
    fields: &'static [&'static [Field]],
    /// `collectionFilters`: database columns, which may name hidden fields.
    pub filters: &'static [(&'static str, Class)],
    pub actions: &'static [&'static str],
    pub action_output: &'static str,
}

impl Schema {
    pub(super) fn fields(&self) -> impl Iterator<Item = &'static Field> {
        self.fields.iter().flat_map(|group| group.iter())
    }

    pub(super) fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields().find(|f| f.name == name)
    }

    /// Class of a filter that applies: in `collectionFilters` and in `resourceFields` (§4).
    pub(super) fn filter_class(&self, name: &str) -> Option<Class> {
        let (_, class) = self.filters.iter().find(|(n, _)| *n == name)?;
        self.field(name).map(|_| *class)
    }
}

/// The schema of `kind`; `email` selects the frozen v1 `project` variant of
/// `registryCredential`, where `email` is required (§2, §3).
pub(super) fn schema(kind: Kind, email: bool) -> &'static Schema {
    match kind {
        Kind::ApiVersion => &API_VERSION,
        Kind::Error => &ERROR,
        Kind::Project => &PROJECT,
        Kind::Registry => &REGISTRY,
        Kind::Credential if email => &CREDENTIAL_V1_PROJECT,
        Kind::Credential => &CREDENTIAL,
        Kind::Schema => &SCHEMA,
    }
}

const RESOURCE_RW: &[&str] = &["GET", "PUT", "DELETE"];
const COLLECTION_RW: &[&str] = &["GET", "POST"];
const GET: &[&str] = &["GET"];
const OBJECT_ACTIONS: &[&str] = &[
    "activate",
    "create",
    "deactivate",
    "purge",
    "remove",
    "restore",
    "update",
];
#[rustfmt::skip]
const STATES: &[&str] = &[
    "activating", "active", "deactivating", "inactive", "purged", "purging", "registering",
    "removed", "removing", "requested", "restoring", "updating-active", "updating-inactive",
];

const ORCHESTRATIONS: &[&str] = &["cattle", "kubernetes", "mesos", "swarm", "windows"];

/// Fields of every registry, credential and project.
const COMMON: &[Field] = &[
    Field::ro("created", "date"),
    Field::ro("id", "string"),
    Field::ro("kind", "string"),
    Field::ro("removed", "date"),
    Field::ro("state", "enum").options(STATES),
    Field::ro("transitioning", "enum").options(&["yes", "no", "error"]),
    Field::ro("transitioningMessage", "string"),
    Field::ro("transitioningProgress", "int"),
    Field::ro("uuid", "string"),
];

const REGISTRY: Schema = Schema {
    id: "registry",
    plural: "registries",
    base_type: "storagePool",
    resource_methods: RESOURCE_RW,
    collection_methods: COLLECTION_RW,
    fields: &[
        COMMON,
        &[
            Field::ro("accountId", "reference[account]"),
            Field::ro("blockDevicePath", "string"),
            Field::cu("description", "string", 1024),
            Field::ro("driverName", "string"),
            Field::ro("externalId", "string"),
            Field::cu("name", "string", 255),
            Field::ro("serverAddress", "string").required().min(1),
            Field::ro("volumeAccessMode", "string"),
            Field::ro("volumeCapabilities", "array[string]"),
        ],
    ],
    filters: REGISTRY_FILTERS,
    actions: OBJECT_ACTIONS,
    action_output: "storagePool",
};

use Class::{Boolean as Bool, Date, Enum, Id, Int, Reference as Ref, Str};

#[rustfmt::skip]
const REGISTRY_FILTERS: &[(&str, Class)] = &[
    ("accountId", Ref), ("agentId", Ref), ("created", Date), ("description", Str),
    ("driverName", Str), ("external", Bool), ("externalId", Str), ("id", Id), ("kind", Str),
    ("name", Str), ("physicalTotalSizeMb", Int), ("removeTime", Date), ("removed", Date),
    ("state", Enum), ("uuid", Str), ("virtualTotalSizeMb", Int), ("volumeAccessMode", Str),
    ("zoneId", Ref),
];

#[rustfmt::skip]
const CREDENTIAL_FILTERS: &[(&str, Class)] = &[
    ("accountId", Ref), ("created", Date), ("description", Str), ("id", Id), ("kind", Str),
    ("name", Str), ("publicValue", Str), ("registryId", Ref), ("removeTime", Date),
    ("removed", Date), ("secretValue", Str), ("state", Enum), ("uuid", Str),
];

#[rustfmt::skip]
const PROJECT_FILTERS: &[(&str, Class)] = &[
    ("created", Date), ("description", Str), ("id", Id), ("kind", Str), ("name", Str),
    ("removed", Date), ("state", Enum), ("uuid", Str),
];

const CREDENTIAL_FIELDS: &[Field] = &[
    Field::ro("accountId", "reference[account]"),
    Field::cu("description", "string", 1024),
    Field::cu("name", "string", 255),
    Field::cu("publicValue", "string", 4096),
    Field::ro("registryId", "reference[registry]").required(),
    Field {
        read_on_create_only: true,
        ..Field::cu("secretValue", "password", 4096)
    },
];

const CREDENTIAL: Schema = Schema {
    id: "registryCredential",
    plural: "registryCredentials",
    base_type: "credential",
    resource_methods: RESOURCE_RW,
    collection_methods: COLLECTION_RW,
    fields: &[COMMON, CREDENTIAL_FIELDS],
    filters: CREDENTIAL_FILTERS,
    actions: OBJECT_ACTIONS,
    action_output: "credential",
};

const CREDENTIAL_V1_PROJECT: Schema = Schema {
    fields: &[
        COMMON,
        CREDENTIAL_FIELDS,
        &[Field {
            update: true,
            ..Field::ro("email", "string").required().min(1)
        }],
    ],
    ..CREDENTIAL
};

const PROJECT: Schema = Schema {
    id: "project",
    plural: "projects",
    base_type: "account",
    resource_methods: GET,
    collection_methods: GET,
    fields: &[
        COMMON,
        &[
            Field::ro("description", "string"),
            Field::ro("name", "string"),
            Field::ro("orchestration", "string").options(ORCHESTRATIONS),
        ],
    ],
    filters: PROJECT_FILTERS,
    actions: &[],
    action_output: "",
};

const SCHEMA: Schema = Schema {
    id: "schema",
    plural: "schemas",
    base_type: "schema",
    resource_methods: GET,
    collection_methods: GET,
    fields: &[&[
        Field::ro("collectionMethods", "array[string]"),
        Field::ro("id", "string"),
        Field::ro("pluralName", "string"),
        Field::ro("resourceFields", "map[json]"),
        Field::ro("resourceMethods", "array[string]"),
    ]],
    filters: &[],
    actions: &[],
    action_output: "",
};

const API_VERSION: Schema = Schema {
    id: "apiVersion",
    plural: "apiVersions",
    base_type: "apiVersion",
    collection_methods: &[],
    fields: &[&[Field::ro("id", "string")]],
    ..SCHEMA
};

const ERROR: Schema = Schema {
    id: "error",
    plural: "errors",
    base_type: "error",
    resource_methods: &[],
    collection_methods: &[],
    fields: &[&[
        Field::ro("code", "string"),
        Field::ro("detail", "string"),
        Field::ro("fieldName", "string"),
        Field::ro("message", "string"),
        Field::ro("status", "int"),
    ]],
    ..SCHEMA
};
