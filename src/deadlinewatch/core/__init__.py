"""The pure core: parsing, forecasting, policy and letters over plain data. Nothing here does I/O."""
