"""A user's own Keras network, optimizer and loss, checked step by step without editing them.

    python -m compare check examples/keras_sequential.py --against scratch,torch,keras

Verdict: PASS (float64, 1e-9): the model against scratch (in Keras's conventions), torch and
Keras. Momentum 0.9 given as a Python float acts as its float32 rounding 0.8999999761581421 in
Keras (keras-float32-hyperparameters), so scratch@keras and the Keras reference round it the same
way; torch does not, so the pair kerasnet~torch is reported with that reason, not judged.
"""
import keras

import compare

model = keras.Sequential([
    keras.Input(shape=(4,)),
    keras.layers.Dense(8, activation="relu"),
    keras.layers.Dense(3, activation="softmax"),
])
optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
loss = keras.losses.CategoricalCrossentropy()

kerasnet = compare.keras_model(model, optimizer, loss)
