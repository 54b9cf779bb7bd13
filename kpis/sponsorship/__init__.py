"""Executive sponsorship: the S&OP meeting cycle, the decision log and the scorecard per executive."""
