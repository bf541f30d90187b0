"""peewee models: Moodle core + IOMAD (read-only), the product's own tables, schema install/upgrade."""
