"""Taking payments: the pure core at this level (base, rules, ports, orders, service, attempts),
the poller in reconcile/, the callback route in callbacks/, and one folder per gateway in
gateways/ with their registry, GATEWAYS."""
