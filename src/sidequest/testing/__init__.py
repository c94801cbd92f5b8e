"""Testing helpers (fake and inline modes); see issue: being written."""
