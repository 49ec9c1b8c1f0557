"""Data augmentation through a generator, separable convolutions, global average pooling,
an L2 penalty and class weights, written as Keras 2.2 code: only the imports name minicnn.

    python examples/keras/augmentation_generator.py
"""
import numpy as np

from minicnn import regularizers
from minicnn.datasets import mnist
from minicnn.layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    GlobalAveragePooling2D,
    MaxPooling2D,
    SeparableConv2D,
)
from minicnn.models import Sequential
from minicnn.optimizers import RMSprop
from minicnn.preprocessing.image import ImageDataGenerator
from minicnn.utils import to_categorical

(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train = x_train.reshape(-1, 28, 28, 1).astype('float32') / 255
x_test = x_test.reshape(-1, 28, 28, 1).astype('float32') / 255
y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)

model = Sequential()
model.add(Conv2D(16, (3, 3), padding='same', kernel_regularizer=regularizers.l2(1e-4),
                 input_shape=(28, 28, 1)))
model.add(BatchNormalization())
model.add(Activation('relu'))
model.add(MaxPooling2D())
model.add(SeparableConv2D(32, (3, 3), padding='same', activation='relu'))
model.add(MaxPooling2D())
model.add(SeparableConv2D(10, (3, 3), padding='same'))
model.add(GlobalAveragePooling2D())
model.add(Activation('softmax'))
model.compile(optimizer=RMSprop(lr=0.003, decay=1e-4), loss='categorical_crossentropy',
              metrics=['accuracy'])
model.summary()

datagen = ImageDataGenerator(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1,
                             zoom_range=0.1)
batch_size = 64
counts = y_train.sum(axis=0)
class_weight = {c: float(counts.mean() / counts[c]) for c in range(10)}
model.fit_generator(datagen.flow(x_train, y_train, batch_size=batch_size, seed=1),
                    steps_per_epoch=len(x_train) // batch_size, epochs=3, verbose=2,
                    validation_data=(x_test, y_test), class_weight=class_weight)

test_flow = ImageDataGenerator().flow(x_test, y_test, batch_size=256, shuffle=False)
print('test [loss, acc]:', model.evaluate_generator(test_flow, steps=len(test_flow)))
probabilities = model.predict_generator(test_flow, steps=len(test_flow))
print('test accuracy from predict_generator:',
      np.mean(probabilities.argmax(axis=1) == y_test.argmax(axis=1)))
