"""The product's spelling of libaiflow.integration (spec 03 §5.3): same objects."""
