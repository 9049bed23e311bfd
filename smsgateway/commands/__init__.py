"""CLI command groups, one module per area; ``smsgateway.cli.init_app`` attaches them."""
