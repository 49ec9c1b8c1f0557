"""Keras 1 argument names that Keras 2.2 still converts (each with a warning naming the
Keras 2 form), in a script written for Keras 2.2: only the imports name minicnn.

    python examples/keras/keras1_style.py
"""
import numpy as np

from minicnn.datasets import mnist
from minicnn.layers import Activation, Convolution2D, Dense, Dropout, Flatten, MaxPooling2D
from minicnn.models import Sequential
from minicnn.optimizers import SGD
from minicnn.utils import np_utils

(X_train, y_train), (X_test, y_test) = mnist.load_data()
X_train = X_train.reshape(X_train.shape[0], 28, 28, 1).astype('float32') / 255
X_test = X_test.reshape(X_test.shape[0], 28, 28, 1).astype('float32') / 255
Y_train = np_utils.to_categorical(y_train, 10)
Y_test = np_utils.to_categorical(y_test, 10)

model = Sequential()
model.add(Convolution2D(16, 3, 3, border_mode='same', init='he_normal', input_shape=(28, 28, 1)))
model.add(Activation('relu'))
model.add(Convolution2D(16, 3, 3, subsample=(2, 2), border_mode='valid'))
model.add(Activation('relu'))
model.add(MaxPooling2D(pool_size=(2, 2), border_mode='valid'))
model.add(Dropout(p=0.25))
model.add(Flatten())
model.add(Dense(output_dim=32, init='glorot_uniform'))
model.add(Activation('relu'))
model.add(Dense(10))
model.add(Activation('softmax'))

model.compile(loss='categorical_crossentropy', optimizer=SGD(lr=0.05, momentum=0.9, nesterov=True),
              metrics=['accuracy'])
model.fit(X_train, Y_train, batch_size=64, nb_epoch=3, verbose=2, validation_data=(X_test, Y_test))

classes = model.predict_classes(X_test, verbose=0)
print('Test accuracy (predict_classes):', np.mean(classes == y_test))
