"""The baseline for bench/python_digits.ts: a plain FastAPI app serving the same digits pickle,
one request = one model.predict call (no batching).

  DIGITS_MODEL=/tmp/digits.pkl /usr/bin/python3 -m uvicorn fastapi_digits_app:app \
      --app-dir bench --host 127.0.0.1 --port 8000 --log-level warning

POST /predict {"input": [64 floats]} -> {"output": label}
"""

import os
import pickle
from typing import List

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

with open(os.environ['DIGITS_MODEL'], 'rb') as f:
    MODEL = pickle.load(f)

app = FastAPI()


class Query(BaseModel):
    input: List[float]


@app.post('/predict')
async def predict(query: Query):
    # async: runs on the event loop, skipping the threadpool hop a plain `def` endpoint takes
    # (the faster of the two for a sub-millisecond CPU-bound call).
    x = np.asarray(query.input, dtype=np.float64).reshape(1, -1)
    return {'output': int(MODEL.predict(x)[0])}
