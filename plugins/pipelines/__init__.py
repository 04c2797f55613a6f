"""Pipeline-designer component plugins (each implements hpcai_pipeline_components)."""
