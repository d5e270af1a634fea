//! Creating the table with its indexes, TTL and stream (local use and tests).

use super::*;

impl DynamoStore {
    /// Creates the table with its indexes, TTL and stream, as `template.yaml` declares it.
    /// For local use and tests; an existing table is left as it is.
    pub async fn create_table(&self) -> StoreResult<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("name and type are set")
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .expect("name and type are set")
        };
        let index = |name: &str, pk: &str, sk: Option<&str>| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .set_key_schema(Some(
                    std::iter::once(key(pk, KeyType::Hash))
                        .chain(sk.map(|sk| key(sk, KeyType::Range)))
                        .collect(),
                ))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .expect("name, keys and projection are set")
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(
                ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk"]
                    .map(attr)
                    .to_vec(),
            ))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(index(GSI_LIST, "gsi1pk", Some("gsi1sk")))
            .global_secondary_indexes(index(GSI_DUE, "gsi2pk", Some("gsi2sk")))
            .global_secondary_indexes(index(GSI_STREAM, "gsi3pk", None))
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .expect("enabled is set"),
            )
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                return Ok(());
            }
            Err(e) => return Err(unavailable(e)),
        }
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("ttl")
                    .enabled(true)
                    .build()
                    .expect("name and flag are set"),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
