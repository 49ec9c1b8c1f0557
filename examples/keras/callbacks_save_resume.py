"""Callbacks, whole-model files and a resumed run, written as Keras 2.2 code: only the imports
name minicnn.

Trains, checkpoints the best model, lowers the learning rate with K.set_value, saves the
model, loads it again (architecture, weights and optimizer state) and goes on training.

    python examples/keras/callbacks_save_resume.py
"""
import os
import tempfile

from minicnn import backend as K
from minicnn.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from minicnn.datasets import mnist
from minicnn.layers import BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D
from minicnn.models import Sequential, load_model, model_from_json
from minicnn.optimizers import Adam
from minicnn.utils import to_categorical

(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train = x_train[..., None].astype('float32') / 255
x_test = x_test[..., None].astype('float32') / 255
y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)

model = Sequential([
    Conv2D(8, (3, 3), activation='relu', input_shape=(28, 28, 1)),
    BatchNormalization(axis=-1),
    MaxPooling2D((2, 2)),
    Conv2D(16, (3, 3), activation='relu'),
    MaxPooling2D((2, 2)),
    Flatten(),
    Dense(10, activation='softmax'),
])
model.compile(optimizer=Adam(lr=0.003, amsgrad=True), loss='categorical_crossentropy',
              metrics=['accuracy'])
model.summary()

folder = tempfile.mkdtemp()
best = os.path.join(folder, 'best.npz')
callbacks = [ModelCheckpoint(best, monitor='val_acc', save_best_only=True, verbose=1),
             ReduceLROnPlateau(monitor='val_loss', factor=0.5, patience=1, verbose=1),
             EarlyStopping(monitor='val_loss', patience=3),
             CSVLogger(os.path.join(folder, 'log.csv'))]
history = model.fit(x_train, y_train, batch_size=128, epochs=3, verbose=2,
                    validation_split=0.1, callbacks=callbacks)
print('logged:', sorted(history.history))

K.set_value(model.optimizer.lr, 0.5 * K.get_value(model.optimizer.lr))
print('learning rate now', K.get_value(model.optimizer.lr))

path = os.path.join(folder, 'model.npz')
model.save(path)
restored = load_model(path)
restored.fit(x_train, y_train, batch_size=128, epochs=1, verbose=2)
print('resumed model, test [loss, acc]:', restored.evaluate(x_test, y_test, verbose=0))

twin = model_from_json(model.to_json())
twin.set_weights(load_model(best).get_weights())
twin.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
print('best checkpoint, test [loss, acc]:', twin.evaluate(x_test, y_test, verbose=0))
