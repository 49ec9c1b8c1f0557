"""Other losses, metrics, optimizers and sample weights, written as Keras 2.2 code: only the
imports name minicnn. One model learns "is the digit odd?" with a sigmoid and binary
cross-entropy; another the ten classes with a mean squared error and top-k accuracy.

    python examples/keras/losses_metrics.py
"""
import numpy as np

from minicnn.datasets import mnist
from minicnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from minicnn.models import Sequential
from minicnn.optimizers import Adagrad, Adamax, Nadam
from minicnn.utils import to_categorical

(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train = x_train.reshape(-1, 28, 28, 1).astype('float32') / 255
x_test = x_test.reshape(-1, 28, 28, 1).astype('float32') / 255


def small_convnet(outputs, activation):
    return Sequential([Conv2D(8, (5, 5), strides=(2, 2), activation='relu', input_shape=(28, 28, 1)),
                       MaxPooling2D((2, 2)), Flatten(), Dense(outputs, activation=activation)])


odd_train, odd_test = (y_train % 2).astype('float32'), (y_test % 2).astype('float32')
binary = small_convnet(1, 'sigmoid')
binary.compile(optimizer=Nadam(), loss='binary_crossentropy', metrics=['accuracy'])
weights = np.where(odd_train == 1, 1.0, 2.0)        # the even digits count twice
binary.fit(x_train, odd_train[:, None], batch_size=128, epochs=2, verbose=2,
           sample_weight=weights)
print('odd/even [loss, acc]:', binary.evaluate(x_test, odd_test[:, None], verbose=0))

regression = small_convnet(10, 'softmax')
regression.compile(optimizer=Adamax(lr=0.004, clipnorm=1.0), loss='mse',
                   metrics=['categorical_accuracy', 'top_k_categorical_accuracy'])
regression.fit(x_train, to_categorical(y_train, 10), batch_size=128, epochs=2, verbose=2)
print(regression.metrics_names, regression.evaluate(x_test, to_categorical(y_test, 10), verbose=0))

sparse = small_convnet(10, 'softmax')
sparse.compile(optimizer=Adagrad(lr=0.05, clipvalue=0.5), loss='sparse_categorical_crossentropy',
               metrics=['sparse_categorical_accuracy'])
sparse.fit(x_train, y_train, batch_size=128, epochs=2, initial_epoch=0, verbose=2)
print('sparse labels [loss, acc]:', sparse.evaluate(x_test, y_test, verbose=0))
