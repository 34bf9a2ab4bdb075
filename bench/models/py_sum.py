"""The sum model in Python: one float per input, the sum of its elements (bench/docker_replica.ts)."""


def predict(inputs):
    return [float(sum(x)) for x in inputs]
