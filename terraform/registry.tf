# Glue Schema Registry with every schema of ../schemas (the contract), BACKWARD compatible as
# the registry client creates them (`clinic-local register-schemas` finds these versions by
# definition and registers nothing twice).
resource "aws_glue_registry" "main" {
  registry_name = var.schema_registry_name
  description   = "Avro contract of the scheduling back office"
}

resource "aws_glue_schema" "contract" {
  for_each          = fileset("${path.module}/../schemas", "*.avsc")
  schema_name       = trimsuffix(each.key, ".avsc")
  registry_arn      = aws_glue_registry.main.arn
  data_format       = "AVRO"
  compatibility     = "BACKWARD"
  schema_definition = file("${path.module}/../schemas/${each.key}")
}
