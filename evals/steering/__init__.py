"""Search steering: the steerable search API, interventions and the steering benchmark."""
