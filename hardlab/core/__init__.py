"""What a run means: results, expectations, verdicts. Pure: no docker, no pytest."""
