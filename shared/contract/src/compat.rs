//! Schema evolution rule: every schema change must let the new schema read the old data.
//!
//! The Glue registry enforces BACKWARD compatibility in the cloud; moto does not, so this check
//! (run in the tests against every committed version) is what holds the line locally.

use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;

/// `Ok` when data written with `previous` can be read with `current` (BACKWARD compatible).
///
/// On failure the message says which rule was broken (schemas only, no data).
pub fn check_backward_compatible(previous: &Schema, current: &Schema) -> Result<(), String> {
    SchemaCompatibility::can_read(previous, current).map_err(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ALL_RECORDS;

    fn parse(json: &str) -> Schema {
        Schema::parse_str(json).expect("test schema parses")
    }

    const V1: &str = r#"{"type":"record","name":"R","namespace":"com.clinic.events","fields":[
        {"name":"event_id","type":{"type":"string","logicalType":"uuid"}},
        {"name":"count","type":"int"},
        {"name":"outcome","type":{"type":"enum","name":"O","symbols":["A","B"]}}
    ]}"#;

    fn v1_with(extra_fields: &str, count_type: &str, symbols: &str) -> Schema {
        parse(&format!(
            r#"{{"type":"record","name":"R","namespace":"com.clinic.events","fields":[
            {{"name":"event_id","type":{{"type":"string","logicalType":"uuid"}}}},
            {{"name":"count","type":{count_type}}},
            {{"name":"outcome","type":{{"type":"enum","name":"O","symbols":{symbols}}}}}
            {extra_fields}
        ]}}"#
        ))
    }

    #[test]
    fn the_unchanged_schema_is_compatible_with_itself() {
        let v1 = parse(V1);
        assert_eq!(check_backward_compatible(&v1, &v1), Ok(()));
        for record in ALL_RECORDS {
            let s = record.parse_schema().expect("committed schema parses");
            assert_eq!(check_backward_compatible(&s, &s), Ok(()), "{}", record.name);
        }
    }

    #[test]
    fn adding_an_optional_field_with_a_null_default_is_accepted() {
        let v2 = v1_with(
            r#",{"name":"notes","type":["null","string"],"default":null}"#,
            r#""int""#,
            r#"["A","B"]"#,
        );
        assert_eq!(check_backward_compatible(&parse(V1), &v2), Ok(()));
    }

    #[test]
    fn removing_a_field_and_adding_an_enum_symbol_and_widening_int_to_long_are_accepted() {
        let v2 = parse(
            r#"{"type":"record","name":"R","namespace":"com.clinic.events","fields":[
            {"name":"event_id","type":{"type":"string","logicalType":"uuid"}},
            {"name":"outcome","type":{"type":"enum","name":"O","symbols":["A","B","C"]}}
        ]}"#,
        );
        assert_eq!(check_backward_compatible(&parse(V1), &v2), Ok(()));
        let widened = v1_with("", r#""long""#, r#"["A","B"]"#);
        assert_eq!(check_backward_compatible(&parse(V1), &widened), Ok(()));
    }

    #[test]
    fn adding_a_field_without_a_default_is_rejected() {
        let v2 = v1_with(
            r#",{"name":"payer","type":"string"}"#,
            r#""int""#,
            r#"["A","B"]"#,
        );
        let err = check_backward_compatible(&parse(V1), &v2).expect_err("must be rejected");
        assert!(err.contains("payer"), "{err}");
    }

    #[test]
    fn changing_a_field_type_is_rejected() {
        let v2 = v1_with("", r#""string""#, r#"["A","B"]"#);
        let err = check_backward_compatible(&parse(V1), &v2).expect_err("must be rejected");
        assert!(err.contains("count"), "{err}");
    }

    #[test]
    fn removing_an_enum_symbol_is_rejected() {
        let v2 = v1_with("", r#""int""#, r#"["A"]"#);
        assert!(check_backward_compatible(&parse(V1), &v2).is_err());
    }

    #[test]
    fn narrowing_long_to_int_is_rejected_though_the_reverse_is_fine() {
        let long = v1_with("", r#""long""#, r#"["A","B"]"#);
        assert!(check_backward_compatible(&long, &parse(V1)).is_err());
    }
}
