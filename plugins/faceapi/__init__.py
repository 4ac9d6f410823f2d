"""face-api's networks in PyTorch: face detection, 68 landmarks, the 128-d face
descriptor, expressions, age and gender, loaded from face-api's TensorFlow.js
weights (vladmandic/face-api, MIT).

Components: the ``faceapi`` identity embedder (`embedder.FaceApiEmbedder`), the
``faceapi`` face analyzer (`analyzer.FaceApiAnalyzer`) and the ``faceapi``
converter for TF.js weight manifests (`convert.TfjsManifestConverter`).
"""
