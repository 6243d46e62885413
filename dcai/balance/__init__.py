"""balance: equal classes under the total budget; rows over a class's quota go to surplus, not away."""
