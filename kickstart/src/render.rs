//! Rendering answer files from a site YAML.
