"""Learning analytics (SPEC §8): time spent from Moodle's log; engagement and at-risk learners next."""
