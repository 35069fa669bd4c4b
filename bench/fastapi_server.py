"""The server a user would write instead, for bench/serving.ts: FastAPI + ONNX Runtime (one
thread), the OIP v2 JSON body in, the model's probabilities out, no validation.
Usage: python fastapi_server.py MODEL.onnx PORT"""
import json, sys

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, Request, Response

options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])
app = FastAPI()


@app.post("/v2/models/bench/infer")
async def infer(request: Request) -> Response:
    tensor = json.loads(await request.body())["inputs"][0]
    x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
    out = session.run(None, {tensor["name"]: x})[0]
    body = {"model_name": "bench", "outputs": [{"name": "probabilities", "shape": list(out.shape), "datatype": "FP32", "data": out.ravel().tolist()}]}
    return Response(json.dumps(body), media_type="application/json")


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
