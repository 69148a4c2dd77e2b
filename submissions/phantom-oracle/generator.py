"""Positive control: the phantom's own renderer, i.e. a generator that knows the data exactly."""

from cxrbench.data.phantom import render


class Oracle:
    def generate(self, conditions, seeds, size):
        return render(conditions, seeds, size)
