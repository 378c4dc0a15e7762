"""Pay links (/pay/l/<token>): pay some or all of one customer's open invoices without their
password. Tokens: cpp.links.tokens; pages: cpp.links.routes; spec: docs/pay-links.md."""
