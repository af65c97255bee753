"""One package per tool cdp reads from or writes to; each implements the contract in `cdp.connectors`."""
