"""The local world: anvil processes, the Uniswap V2 world builder, and (later) the market simulator."""
